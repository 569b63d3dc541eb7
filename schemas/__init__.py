"""JSON Schemas for workflows and plans, shipped as package data."""
