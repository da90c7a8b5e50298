"""Storage: workspaces, models and drawings on disk, and the file safety they share."""
