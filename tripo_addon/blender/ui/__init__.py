"""The artist's side: registration, the sidebar panels, operators, the job list, thumbnails and the preferences."""
