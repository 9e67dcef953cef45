// Written by descriptor-from-proto.ts from remote_execution.proto (this folder): do not edit.
import type protobuf from "protobufjs"

/** The protobufjs JSON descriptor of remote_execution.proto (the subset vendored here). */
export const REAPI_DESCRIPTOR: protobuf.INamespace = {
  nested: {
    build: {
      nested: {
        bazel: {
          nested: {
            remote: {
              nested: {
                execution: {
                  nested: {
                    v2: {
                      nested: {
                        ActionResult: {
                          fields: {
                            output_files: {
                              rule: "repeated",
                              type: "OutputFile",
                              id: 2,
                            },
                            output_file_symlinks: {
                              rule: "repeated",
                              type: "OutputSymlink",
                              id: 10,
                              options: {
                                deprecated: true,
                              },
                            },
                            output_symlinks: {
                              rule: "repeated",
                              type: "OutputSymlink",
                              id: 12,
                            },
                            output_directories: {
                              rule: "repeated",
                              type: "OutputDirectory",
                              id: 3,
                            },
                            output_directory_symlinks: {
                              rule: "repeated",
                              type: "OutputSymlink",
                              id: 11,
                              options: {
                                deprecated: true,
                              },
                            },
                            exit_code: {
                              type: "int32",
                              id: 4,
                            },
                            stdout_raw: {
                              type: "bytes",
                              id: 5,
                            },
                            stdout_digest: {
                              type: "Digest",
                              id: 6,
                            },
                            stderr_raw: {
                              type: "bytes",
                              id: 7,
                            },
                            stderr_digest: {
                              type: "Digest",
                              id: 8,
                            },
                            execution_metadata: {
                              type: "ExecutedActionMetadata",
                              id: 9,
                            },
                          },
                          reserved: [[1, 1]],
                        },
                        OutputFile: {
                          fields: {
                            path: {
                              type: "string",
                              id: 1,
                            },
                            digest: {
                              type: "Digest",
                              id: 2,
                            },
                            is_executable: {
                              type: "bool",
                              id: 4,
                            },
                            contents: {
                              type: "bytes",
                              id: 5,
                            },
                            node_properties: {
                              type: "NodeProperties",
                              id: 7,
                            },
                          },
                          reserved: [
                            [3, 3],
                            [6, 6],
                          ],
                        },
                        OutputDirectory: {
                          fields: {
                            path: {
                              type: "string",
                              id: 1,
                            },
                            tree_digest: {
                              type: "Digest",
                              id: 3,
                            },
                            is_topologically_sorted: {
                              type: "bool",
                              id: 4,
                            },
                            root_directory_digest: {
                              type: "Digest",
                              id: 5,
                            },
                          },
                          reserved: [[2, 2]],
                        },
                        OutputSymlink: {
                          fields: {
                            path: {
                              type: "string",
                              id: 1,
                            },
                            target: {
                              type: "string",
                              id: 2,
                            },
                            node_properties: {
                              type: "NodeProperties",
                              id: 4,
                            },
                          },
                          reserved: [[3, 3]],
                        },
                        Digest: {
                          fields: {
                            hash: {
                              type: "string",
                              id: 1,
                            },
                            size_bytes: {
                              type: "int64",
                              id: 2,
                            },
                          },
                        },
                        ExecutedActionMetadata: {
                          fields: {
                            worker: {
                              type: "string",
                              id: 1,
                            },
                            queued_timestamp: {
                              type: "google.protobuf.Timestamp",
                              id: 2,
                            },
                            worker_start_timestamp: {
                              type: "google.protobuf.Timestamp",
                              id: 3,
                            },
                            worker_completed_timestamp: {
                              type: "google.protobuf.Timestamp",
                              id: 4,
                            },
                            input_fetch_start_timestamp: {
                              type: "google.protobuf.Timestamp",
                              id: 5,
                            },
                            input_fetch_completed_timestamp: {
                              type: "google.protobuf.Timestamp",
                              id: 6,
                            },
                            execution_start_timestamp: {
                              type: "google.protobuf.Timestamp",
                              id: 7,
                            },
                            execution_completed_timestamp: {
                              type: "google.protobuf.Timestamp",
                              id: 8,
                            },
                            virtual_execution_duration: {
                              type: "google.protobuf.Duration",
                              id: 12,
                            },
                            output_upload_start_timestamp: {
                              type: "google.protobuf.Timestamp",
                              id: 9,
                            },
                            output_upload_completed_timestamp: {
                              type: "google.protobuf.Timestamp",
                              id: 10,
                            },
                            auxiliary_metadata: {
                              rule: "repeated",
                              type: "google.protobuf.Any",
                              id: 11,
                            },
                          },
                        },
                        NodeProperty: {
                          fields: {
                            name: {
                              type: "string",
                              id: 1,
                            },
                            value: {
                              type: "string",
                              id: 2,
                            },
                          },
                        },
                        NodeProperties: {
                          fields: {
                            properties: {
                              rule: "repeated",
                              type: "NodeProperty",
                              id: 1,
                            },
                            mtime: {
                              type: "google.protobuf.Timestamp",
                              id: 2,
                            },
                            unix_mode: {
                              type: "google.protobuf.UInt32Value",
                              id: 3,
                            },
                          },
                        },
                      },
                    },
                  },
                },
              },
            },
          },
        },
      },
    },
    google: {
      nested: {
        protobuf: {
          nested: {
            Any: {
              fields: {
                type_url: {
                  type: "string",
                  id: 1,
                },
                value: {
                  type: "bytes",
                  id: 2,
                },
              },
            },
            Duration: {
              fields: {
                seconds: {
                  type: "int64",
                  id: 1,
                },
                nanos: {
                  type: "int32",
                  id: 2,
                },
              },
            },
            Timestamp: {
              fields: {
                seconds: {
                  type: "int64",
                  id: 1,
                },
                nanos: {
                  type: "int32",
                  id: 2,
                },
              },
            },
            DoubleValue: {
              fields: {
                value: {
                  type: "double",
                  id: 1,
                },
              },
            },
            FloatValue: {
              fields: {
                value: {
                  type: "float",
                  id: 1,
                },
              },
            },
            Int64Value: {
              fields: {
                value: {
                  type: "int64",
                  id: 1,
                },
              },
            },
            UInt64Value: {
              fields: {
                value: {
                  type: "uint64",
                  id: 1,
                },
              },
            },
            Int32Value: {
              fields: {
                value: {
                  type: "int32",
                  id: 1,
                },
              },
            },
            UInt32Value: {
              fields: {
                value: {
                  type: "uint32",
                  id: 1,
                },
              },
            },
            BoolValue: {
              fields: {
                value: {
                  type: "bool",
                  id: 1,
                },
              },
            },
            StringValue: {
              fields: {
                value: {
                  type: "string",
                  id: 1,
                },
              },
            },
            BytesValue: {
              fields: {
                value: {
                  type: "bytes",
                  id: 1,
                },
              },
            },
          },
        },
      },
    },
  },
}
