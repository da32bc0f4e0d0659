"""The day's science: daily fields from hourly samples, and their contours.

- :mod:`.daily`: the daily rules (mean, sums, accumulations) fed sample by sample;
- :mod:`.levels`: contour levels and colours;
- :mod:`.contours`: bands and isolines (contourpy), cleaned, with their coordinate arrays.
"""
