"""What a day produces from its contours: table rows, GeoJSON, PNG maps, and where they go.

- :mod:`.features`: the rows of ``contour_features`` (WKT, geodesic areas and lengths);
- :mod:`.geojson`: GeoJSON text for browsers (simplified as a coverage, rounded);
- :mod:`.plots` and :mod:`.borders`: PNG maps with offline coastlines and borders;
- :mod:`.layout`: the paths of published and staged outputs.
"""
