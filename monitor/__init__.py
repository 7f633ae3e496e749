"""MediaMTX observation, the health model, the probe and the monitor daemon."""
