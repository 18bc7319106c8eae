"""The public gRPC API (rhone.api.v1 Gateway and Sessions) the facade serves on its gRPC port,
for teams that call Rhone over gRPC directly (docs/grpc.md)."""
