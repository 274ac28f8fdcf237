"""Profiles, tasks, files and campaigns: the desired state of devices (tasks issue)."""
