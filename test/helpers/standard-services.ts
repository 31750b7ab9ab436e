import {
  credentials,
  Metadata,
  loadPackageDefinition,
  type Client,
  type ClientDuplexStream,
  type GrpcObject,
  type ServiceClientConstructor,
} from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { fromBinary, isFieldSet } from '@bufbuild/protobuf';
import {
  FieldDescriptorProto_Label,
  FieldDescriptorProtoSchema,
  FileDescriptorProtoSchema,
  type DescriptorProto,
  type FileDescriptorProto,
} from '@bufbuild/protobuf/wkt';
import { protoPath as healthProtoPath } from 'grpc-health-check';
import { fileURLToPath } from 'node:url';

const reflectionProtoDir = fileURLToPath(new URL('../../node_modules/@grpc/reflection/build/proto', import.meta.url));

/** Looks up a service constructor by its dotted path in a loaded package. */
function serviceConstructor(root: GrpcObject, path: string): ServiceClientConstructor {
  let node: unknown = root;
  for (const part of path.split('.')) node = (node as GrpcObject)[part];
  if (typeof node !== 'function') throw new Error(`${path} is not a service in the loaded protos`);
  return node as ServiceClientConstructor;
}

type Callback<T> = (error: Error | null, response: T) => void;

/** grpc.health.v1 Check, through a dynamically loaded client, as a probe would call it. */
export async function healthCheck(address: string, service: string): Promise<string> {
  const Health = serviceConstructor(
    loadPackageDefinition(loadSync(healthProtoPath, { enums: String })),
    'grpc.health.v1.Health',
  );
  const client = new Health(address, credentials.createInsecure()) as unknown as Client & {
    check(request: { service: string }, callback: Callback<{ status: string }>): void;
  };
  try {
    return await new Promise((resolve, reject) =>
      client.check({ service }, (error, response) => (error ? reject(error) : resolve(response.status))),
    );
  } finally {
    client.close();
  }
}

interface ReflectionResponse {
  listServicesResponse?: { service: { name: string }[] };
}

/** The service names a server lists through grpc.reflection.v1, as grpcurl asks for them (`metadata`: e.g. a token). */
export async function listServicesByReflection(address: string, metadata = new Metadata()): Promise<string[]> {
  const definition = loadSync('grpc/reflection/v1/reflection.proto', { includeDirs: [reflectionProtoDir] });
  const Reflection = serviceConstructor(loadPackageDefinition(definition), 'grpc.reflection.v1.ServerReflection');
  const client = new Reflection(address, credentials.createInsecure()) as unknown as Client & {
    serverReflectionInfo(metadata: Metadata): ClientDuplexStream<{ listServices: string }, ReflectionResponse>;
  };
  try {
    const call = client.serverReflectionInfo(metadata);
    const response = await new Promise<ReflectionResponse>((resolve, reject) => {
      call.once('data', resolve);
      call.once('error', reject);
      call.write({ listServices: '*' });
    });
    call.end();
    return response.listServicesResponse?.service.map((service) => service.name) ?? [];
  } finally {
    client.close();
  }
}

/** One ServerReflectionRequest, as proto-loader's camelCase object (set one field). */
export interface ReflectionQuery {
  readonly listServices?: string;
  readonly fileByFilename?: string;
  readonly fileContainingSymbol?: string;
  readonly fileContainingExtension?: { readonly containingType: string; readonly extensionNumber: number };
  readonly allExtensionNumbersOfType?: string;
}

/** One ServerReflectionResponse, as proto-loader's camelCase object. */
export interface ReflectionReply {
  readonly listServicesResponse?: { readonly service: readonly { readonly name: string }[] };
  readonly fileDescriptorResponse?: { readonly fileDescriptorProto: readonly Uint8Array[] };
  readonly allExtensionNumbersResponse?: { readonly baseTypeName: string; readonly extensionNumber: readonly number[] };
  readonly errorResponse?: { readonly errorCode: number; readonly errorMessage: string };
}

/**
 * Sends `queries` on one grpc.reflection `version` stream, as grpcurl does, and resolves with the replies in
 * order. The client comes from the reflection .proto that @grpc/reflection ships, not from the server.
 */
export async function reflectionQueries(
  address: string,
  queries: readonly ReflectionQuery[],
  version: 'v1' | 'v1alpha' = 'v1',
): Promise<ReflectionReply[]> {
  const definition = loadSync(`grpc/reflection/${version}/reflection.proto`, { includeDirs: [reflectionProtoDir] });
  const Reflection = serviceConstructor(
    loadPackageDefinition(definition),
    `grpc.reflection.${version}.ServerReflection`,
  );
  const client = new Reflection(address, credentials.createInsecure()) as unknown as Client & {
    serverReflectionInfo(): ClientDuplexStream<ReflectionQuery, ReflectionReply>;
  };
  try {
    const call = client.serverReflectionInfo();
    const replies: ReflectionReply[] = [];
    await new Promise<void>((resolve, reject) => {
      call.on('data', (reply: ReflectionReply) => {
        replies.push(reply);
        if (replies.length === queries.length) call.end();
      });
      call.on('error', reject);
      call.on('end', resolve);
      for (const query of queries) call.write(query);
      if (queries.length === 0) call.end();
    });
    return replies;
  } finally {
    client.close();
  }
}

/** The FileDescriptorProtos of a file_by_filename or file_containing_symbol reply (the error if it failed). */
export function replyFiles(reply: ReflectionReply | undefined): FileDescriptorProto[] {
  if (reply?.errorResponse !== undefined) {
    throw new Error(`reflection error ${reply.errorResponse.errorCode}: ${reply.errorResponse.errorMessage}`);
  }
  if (reply?.fileDescriptorResponse === undefined) throw new Error('the reply carries no file descriptors');
  return reply.fileDescriptorResponse.fileDescriptorProto.map((bytes) => fromBinary(FileDescriptorProtoSchema, bytes));
}

/** The message `name` (fully qualified) among `files`, with its file and index. */
export function findMessage(
  files: readonly FileDescriptorProto[],
  name: string,
): { readonly file: FileDescriptorProto; readonly message: DescriptorProto; readonly index: number } {
  for (const file of files) {
    const index = file.messageType.findIndex((message) => `${file.package}.${message.name}` === name);
    if (index >= 0) return { file, message: file.messageType[index]!, index };
  }
  throw new Error(`no message ${name} in ${files.map((file) => file.name).join(', ')}`);
}

/** FieldDescriptorProto.Type by number: the scalar's .proto keyword (message and enum use type_name). */
const SCALAR_TYPES: Record<number, string> = {
  1: 'double',
  2: 'float',
  3: 'int64',
  4: 'uint64',
  5: 'int32',
  6: 'fixed64',
  7: 'fixed32',
  8: 'bool',
  9: 'string',
  12: 'bytes',
  13: 'uint32',
  15: 'sfixed32',
  16: 'sfixed64',
  17: 'sint32',
  18: 'sint64',
};

/** `// ` lines of a source location's leading comment, indented. */
function commentLines(file: FileDescriptorProto, path: readonly number[], indent: string): string[] {
  const location = file.sourceCodeInfo?.location.find(
    (candidate) => candidate.path.length === path.length && candidate.path.every((part, i) => part === path[i]),
  );
  const comment = location?.leadingComments?.replace(/\n$/, '');
  return comment ? comment.split('\n').map((line) => `${indent}//${line}`.trimEnd()) : [];
}

/**
 * grpcurl's `describe <message>` output, built from reflected descriptors: leading comments, the fields
 * with their .proto names, labels (`repeated`, proto3 `optional`) and fully qualified type names, and
 * real oneofs as blocks. Handles top-level messages without nested declarations, which is all the API has.
 */
export function describeMessage(files: readonly FileDescriptorProto[], name: string): string {
  const { file, message, index } = findMessage(files, name);
  const lines = [`${name} is a message:`, ...commentLines(file, [4, index], ''), `message ${message.name} {`];
  const fieldLine = (fieldIndex: number, indent: string): string[] => {
    const field = message.field[fieldIndex]!;
    const type = field.typeName !== '' ? field.typeName : (SCALAR_TYPES[field.type] ?? `type${field.type}`);
    const label =
      field.label === FieldDescriptorProto_Label.REPEATED ? 'repeated ' : field.proto3Optional ? 'optional ' : '';
    return [
      ...commentLines(file, [4, index, 2, fieldIndex], indent),
      `${indent}${label}${type} ${field.name} = ${field.number};`,
    ];
  };
  const printedOneofs = new Set<number>();
  const inOneof = (fieldIndex: number) => {
    const field = message.field[fieldIndex]!;
    return isFieldSet(field, FieldDescriptorProtoSchema.field.oneofIndex) && !field.proto3Optional;
  };
  message.field.forEach((field, fieldIndex) => {
    if (!inOneof(fieldIndex)) {
      lines.push(...fieldLine(fieldIndex, '  '));
      return;
    }
    if (printedOneofs.has(field.oneofIndex)) return;
    printedOneofs.add(field.oneofIndex);
    lines.push(`  oneof ${message.oneofDecl[field.oneofIndex]!.name} {`);
    message.field.forEach((member, memberIndex) => {
      if (inOneof(memberIndex) && member.oneofIndex === field.oneofIndex) lines.push(...fieldLine(memberIndex, '    '));
    });
    lines.push('  }');
  });
  lines.push('}');
  return lines.join('\n');
}
