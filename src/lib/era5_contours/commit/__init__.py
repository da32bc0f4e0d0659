"""The commit protocol: both tables and the maps of a run, or nothing, whoever dies when.

- :mod:`.intent`: :class:`~.intent.CommitIntent`, what a run is about to commit;
- :mod:`.lease`: the commit lease (one committer per database, expiry, take-over);
- :mod:`.iceberg`: one table's commit (replace days), a run's snapshots, their undo;
- :mod:`.protocol`: both tables in order, the intent recorded first, finished or undone
  by the next holder after a kill;
- :mod:`.publish`: staged maps moved into place once both tables commit;
- :mod:`.maintenance`: snapshot expiry, orphan files, dead runs' intents.
"""
