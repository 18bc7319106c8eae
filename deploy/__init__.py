"""Deploying Rhone: the kustomize renderer and the checks behind `make k8s-validate`."""
