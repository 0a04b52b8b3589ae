"""Datasets: the embedded synthetic dataset ``synthcaps`` and the AudioCaps/Clotho seed layouts."""
