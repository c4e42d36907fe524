-- warehouse_snapshot_detach: close the snapshot file so it can be renamed into place.
detach database if exists warehouse_snapshot;
