"""The capture agent: supervised ffmpeg, V4L2 boundary, image and device health."""
