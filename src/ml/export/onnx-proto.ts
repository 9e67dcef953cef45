/**
 * The subset of ONNX's protobuf schema (onnx/onnx.proto, `package onnx`, proto2) that a
 * feed-forward model needs: ModelProto, GraphProto, NodeProto, AttributeProto, TensorProto,
 * ValueInfoProto, TypeProto.Tensor, TensorShapeProto.Dimension and OperatorSetIdProto, with the
 * official field numbers and types. Fields cairn never writes (sparse tensors, training info,
 * subgraphs, sequence/map types, ...) are left out: a reader skips unknown fields, and these
 * numbers are never reused, so the bytes written are valid ONNX.
 *
 * The schema is a protobufjs JSON descriptor built into a `Root` on first use (no file is read).
 * Every message is marked `edition: "proto2"` because protobufjs defaults JSON descriptors to
 * proto3, which packs repeated scalars; onnx.proto is proto2, where only the fields declared
 * `[packed = true]` (TensorProto's *_data) are packed, and `ints`/`dims` are not.
 *
 * Field names are onnx.proto's own (snake_case), so an object here reads like the spec.
 */
import protobuf from "protobufjs"

/** TensorProto.DataType values used here. */
export const OnnxDataType = { FLOAT: 1, INT64: 7 } as const

/** AttributeProto.AttributeType values used here. */
export const OnnxAttributeType = { FLOAT: 1, INT: 2, STRING: 3, FLOATS: 6, INTS: 7 } as const

export interface OnnxOperatorSetId {
  readonly domain?: string
  readonly version: number
}

export interface OnnxAttribute {
  readonly name: string
  readonly type: number
  readonly f?: number
  readonly i?: number
  readonly s?: Uint8Array
  readonly floats?: ReadonlyArray<number>
  readonly ints?: ReadonlyArray<number>
}

export interface OnnxNode {
  readonly input: ReadonlyArray<string>
  readonly output: ReadonlyArray<string>
  readonly name?: string
  readonly op_type: string
  readonly domain?: string
  readonly attribute?: ReadonlyArray<OnnxAttribute>
  readonly doc_string?: string
}

export interface OnnxTensor {
  readonly dims: ReadonlyArray<number>
  readonly data_type: number
  readonly name: string
  /** Fixed-width little-endian values (onnx.proto: "MUST be stored in as fixed-width, little-endian order"). */
  readonly raw_data?: Uint8Array
  readonly float_data?: ReadonlyArray<number>
  readonly int64_data?: ReadonlyArray<number>
  readonly doc_string?: string
}

/** One dimension: a size or a symbolic name (the `value` oneof). */
export type OnnxDimension = { readonly dim_value: number } | { readonly dim_param: string }

export interface OnnxValueInfo {
  readonly name: string
  readonly type: { readonly tensor_type: { readonly elem_type: number; readonly shape: { readonly dim: ReadonlyArray<OnnxDimension> } } }
  readonly doc_string?: string
}

export interface OnnxGraph {
  readonly node: ReadonlyArray<OnnxNode>
  readonly name: string
  readonly initializer: ReadonlyArray<OnnxTensor>
  readonly doc_string?: string
  readonly input: ReadonlyArray<OnnxValueInfo>
  readonly output: ReadonlyArray<OnnxValueInfo>
  readonly value_info?: ReadonlyArray<OnnxValueInfo>
}

export interface OnnxModel {
  readonly ir_version: number
  readonly opset_import: ReadonlyArray<OnnxOperatorSetId>
  readonly producer_name?: string
  readonly producer_version?: string
  readonly domain?: string
  readonly model_version?: number
  readonly doc_string?: string
  readonly graph: OnnxGraph
}

type FieldSpec = readonly [id: number, type: string, rule?: "repeated", options?: { readonly packed: boolean }]

const repeated = (id: number, type: string): FieldSpec => [id, type, "repeated"]
const packed = (id: number, type: string): FieldSpec => [id, type, "repeated", { packed: true }]

/** A proto2 message descriptor from `name: [id, type, rule?]` entries. */
const message = (fields: Record<string, FieldSpec>, extra: Omit<protobuf.IType, "fields"> = {}): protobuf.IType => ({
  edition: "proto2",
  ...extra,
  fields: Object.fromEntries(
    Object.entries(fields).map(([name, [id, type, rule, options]]) => [
      name,
      { id, type, ...(rule === undefined ? {} : { rule }), ...(options === undefined ? {} : { options }) },
    ]),
  ),
})

/** Field numbers and types as in onnx/onnx.proto. */
const ONNX_SCHEMA: protobuf.INamespace = {
  nested: {
    onnx: {
      nested: {
        AttributeProto: message(
          {
            name: [1, "string"],
            ref_attr_name: [21, "string"],
            doc_string: [13, "string"],
            type: [20, "AttributeType"],
            f: [2, "float"],
            i: [3, "int64"],
            s: [4, "bytes"],
            t: [5, "TensorProto"],
            floats: repeated(7, "float"),
            ints: repeated(8, "int64"),
            strings: repeated(9, "bytes"),
            tensors: repeated(10, "TensorProto"),
          },
          {
            nested: {
              AttributeType: {
                values: {
                  UNDEFINED: 0,
                  FLOAT: 1,
                  INT: 2,
                  STRING: 3,
                  TENSOR: 4,
                  GRAPH: 5,
                  FLOATS: 6,
                  INTS: 7,
                  STRINGS: 8,
                  TENSORS: 9,
                  GRAPHS: 10,
                  SPARSE_TENSOR: 11,
                  SPARSE_TENSORS: 12,
                },
              },
            },
          },
        ),
        ValueInfoProto: message({ name: [1, "string"], type: [2, "TypeProto"], doc_string: [3, "string"] }),
        NodeProto: message({
          input: repeated(1, "string"),
          output: repeated(2, "string"),
          name: [3, "string"],
          op_type: [4, "string"],
          domain: [7, "string"],
          attribute: repeated(5, "AttributeProto"),
          doc_string: [6, "string"],
        }),
        ModelProto: message({
          ir_version: [1, "int64"],
          opset_import: repeated(8, "OperatorSetIdProto"),
          producer_name: [2, "string"],
          producer_version: [3, "string"],
          domain: [4, "string"],
          model_version: [5, "int64"],
          doc_string: [6, "string"],
          graph: [7, "GraphProto"],
        }),
        GraphProto: message({
          node: repeated(1, "NodeProto"),
          name: [2, "string"],
          initializer: repeated(5, "TensorProto"),
          doc_string: [10, "string"],
          input: repeated(11, "ValueInfoProto"),
          output: repeated(12, "ValueInfoProto"),
          value_info: repeated(13, "ValueInfoProto"),
        }),
        TensorProto: message({
          dims: repeated(1, "int64"),
          data_type: [2, "int32"],
          float_data: packed(4, "float"),
          int32_data: packed(5, "int32"),
          string_data: repeated(6, "bytes"),
          int64_data: packed(7, "int64"),
          name: [8, "string"],
          doc_string: [12, "string"],
          raw_data: [9, "bytes"],
          double_data: packed(10, "double"),
          uint64_data: packed(11, "uint64"),
        }),
        TensorShapeProto: message(
          { dim: repeated(1, "Dimension") },
          {
            nested: {
              Dimension: message(
                { dim_value: [1, "int64"], dim_param: [2, "string"], denotation: [3, "string"] },
                { oneofs: { value: { oneof: ["dim_value", "dim_param"] } } },
              ),
            },
          },
        ),
        TypeProto: message(
          { tensor_type: [1, "Tensor"], denotation: [6, "string"] },
          {
            oneofs: { value: { oneof: ["tensor_type"] } },
            nested: { Tensor: message({ elem_type: [1, "int32"], shape: [2, "TensorShapeProto"] }) },
          },
        ),
        OperatorSetIdProto: message({ domain: [1, "string"], version: [2, "int64"] }),
      },
    },
  },
}

let modelType: protobuf.Type | undefined

/** `onnx.ModelProto`, resolved on first use. */
export const onnxModelType = (): protobuf.Type => (modelType ??= protobuf.Root.fromJSON(ONNX_SCHEMA).resolveAll().lookupType("onnx.ModelProto"))

/** Serializes a model (the bytes of an `.onnx` file). */
export function encodeOnnxModel(model: OnnxModel): Uint8Array {
  const type = onnxModelType()
  return type.encode(type.fromObject(model as unknown as Record<string, unknown>)).finish()
}

/**
 * Parses the bytes of an `.onnx` file into a plain object with onnx.proto's field names: int64
 * fields as numbers (exact below 2^53, which covers dims and attributes), bytes as Uint8Array,
 * enums as their numbers, repeated fields as arrays (empty when absent), absent optional fields
 * absent; fields outside this subset are dropped.
 */
export function decodeOnnxModel(bytes: Uint8Array): OnnxModel {
  const type = onnxModelType()
  return type.toObject(type.decode(bytes), { longs: Number, arrays: true }) as unknown as OnnxModel
}
