"""The job journal on disk: one record per job, written before anything is paid for, with its markers, index and locks."""
