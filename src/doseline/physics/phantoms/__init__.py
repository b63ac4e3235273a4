"""Computational phantoms: labelled voxel geometries for photon transport."""

from doseline.physics.phantoms.voxel import Label, VoxelPhantom

__all__ = ["Label", "VoxelPhantom"]
