"""Tracking (MongoDB): GPS pings, geofences and their events, evidence files in GridFS."""
