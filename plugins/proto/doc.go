// Package pluginpb holds the code protoc generates from plugin.proto,
// the gRPC contract between walnut and its external plugins (package
// walnut.plugin.v1). Only plugin.proto and this file are written by
// hand; `make proto` regenerates the rest with the pinned protoc-gen-go
// and protoc-gen-go-grpc, so that the committed code matches what anyone
// regenerates.
package pluginpb
