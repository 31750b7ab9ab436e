/**
 * gRPC server reflection (grpc.reflection.v1 and v1alpha) served from the FileDescriptorSet that
 * `npm run gen` builds with buf (proto/generated/descriptor-set.binpb). The descriptors go out as buf
 * compiled them, so reflection clients (grpcurl, Postman, grpcio's reflection) see the .proto's file names
 * (`fusionseg/v1/segmentation.proto`), its snake_case field names, fully qualified type names, proto3
 * `optional` and its comments. The set also holds grpc.health.v1 and the reflection protos themselves, so
 * every service the server runs is listed and described.
 */
import { create, createFileRegistry, fromBinary, toBinary, type DescMessage, type Message } from '@bufbuild/protobuf';
import {
  FileDescriptorProtoSchema,
  FileDescriptorSetSchema,
  type DescriptorProto,
  type EnumDescriptorProto,
  type FieldDescriptorProto,
  type FileDescriptorProto,
  type FileDescriptorSet,
} from '@bufbuild/protobuf/wkt';
import { status, type Server, type ServerDuplexStream, type ServiceDefinition } from '@grpc/grpc-js';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The generated FileDescriptorSet reflection serves (written by `npm run gen`, checked by `gen:check`). */
export const descriptorSetPath = fileURLToPath(
  new URL('../../../proto/generated/descriptor-set.binpb', import.meta.url),
);

const REFLECTION_VERSIONS = ['v1', 'v1alpha'] as const;

/** What a ServerReflectionRequest decodes to (the same fields in v1 and v1alpha). */
interface ReflectionRequest extends Message {
  readonly host: string;
  readonly messageRequest:
    | {
        readonly case: 'fileByFilename' | 'fileContainingSymbol' | 'allExtensionNumbersOfType' | 'listServices';
        readonly value: string;
      }
    | {
        readonly case: 'fileContainingExtension';
        readonly value: { readonly containingType: string; readonly extensionNumber: number };
      }
    | { readonly case: undefined; readonly value?: undefined };
}

/** The `message_response` oneof of a ServerReflectionResponse. */
type ReflectionAnswer =
  | { case: 'fileDescriptorResponse'; value: { fileDescriptorProto: Uint8Array[] } }
  | { case: 'allExtensionNumbersResponse'; value: { baseTypeName: string; extensionNumber: number[] } }
  | { case: 'listServicesResponse'; value: { service: { name: string }[] } }
  | { case: 'errorResponse'; value: { errorCode: number; errorMessage: string } };

class ReflectionError extends Error {
  constructor(
    readonly code: status,
    message: string,
  ) {
    super(message);
  }
}

/** The files of a descriptor set indexed by file name, symbol, extension and service. */
export class DescriptorIndex {
  readonly #files = new Map<string, { readonly proto: FileDescriptorProto; readonly bytes: Uint8Array }>();
  /** Fully qualified name (no leading dot) of every declaration -> the file that declares it. */
  readonly #symbols = new Map<string, string>();
  /** Fully qualified message names. */
  readonly #messages = new Set<string>();
  /** Extended message -> field number -> the file that declares the extension. */
  readonly #extensions = new Map<string, Map<number, string>>();
  readonly #services: string[] = [];

  constructor(set: FileDescriptorSet) {
    for (const file of set.file) {
      if (this.#files.has(file.name)) throw new Error(`${file.name} is in the descriptor set twice`);
      this.#files.set(file.name, { proto: file, bytes: toBinary(FileDescriptorProtoSchema, file) });
      const scope = file.package === '' ? '' : `${file.package}.`;
      for (const message of file.messageType) this.#indexMessage(file.name, scope, message);
      for (const enumType of file.enumType) this.#indexEnum(file.name, scope, enumType);
      for (const extension of file.extension) this.#indexExtension(file.name, scope, extension);
      for (const service of file.service) {
        const name = scope + service.name;
        this.#symbols.set(name, file.name);
        this.#services.push(name);
        for (const method of service.method) this.#symbols.set(`${name}.${method.name}`, file.name);
      }
    }
    for (const { proto } of this.#files.values()) {
      for (const dependency of proto.dependency) {
        if (!this.#files.has(dependency)) throw new Error(`${proto.name} imports ${dependency}, not in the set`);
      }
    }
  }

  #indexMessage(file: string, scope: string, message: DescriptorProto): void {
    const name = scope + message.name;
    this.#symbols.set(name, file);
    this.#messages.add(name);
    for (const field of message.field) this.#symbols.set(`${name}.${field.name}`, file);
    for (const oneof of message.oneofDecl) this.#symbols.set(`${name}.${oneof.name}`, file);
    for (const nested of message.nestedType) this.#indexMessage(file, `${name}.`, nested);
    for (const enumType of message.enumType) this.#indexEnum(file, `${name}.`, enumType);
    for (const extension of message.extension) this.#indexExtension(file, `${name}.`, extension);
  }

  #indexEnum(file: string, scope: string, enumType: EnumDescriptorProto): void {
    this.#symbols.set(scope + enumType.name, file);
    // Enum values are scoped like their enum, not inside it (C++ scoping rules).
    for (const value of enumType.value) this.#symbols.set(scope + value.name, file);
  }

  #indexExtension(file: string, scope: string, extension: FieldDescriptorProto): void {
    this.#symbols.set(scope + extension.name, file);
    const extendee = extension.extendee.replace(/^\./, '');
    let numbers = this.#extensions.get(extendee);
    if (numbers === undefined) this.#extensions.set(extendee, (numbers = new Map<number, string>()));
    numbers.set(extension.number, file);
  }

  /** The fully qualified names of the services in the set. */
  get services(): readonly string[] {
    return this.#services;
  }

  /** The serialized FileDescriptorProto of `name`, then those of everything it imports, transitively. */
  fileWithDependencies(name: string): Uint8Array[] {
    const seen = new Set<string>();
    const visit = (fileName: string): void => {
      if (seen.has(fileName)) return;
      seen.add(fileName);
      for (const dependency of this.#files.get(fileName)!.proto.dependency) visit(dependency);
    };
    visit(name);
    return [...seen].map((fileName) => this.#files.get(fileName)!.bytes);
  }

  fileByFilename(name: string): Uint8Array[] {
    if (!this.#files.has(name)) throw new ReflectionError(status.NOT_FOUND, `file not found: ${name}`);
    return this.fileWithDependencies(name);
  }

  fileContainingSymbol(symbol: string): Uint8Array[] {
    const file = this.#symbols.get(symbol.replace(/^\./, ''));
    if (file === undefined) throw new ReflectionError(status.NOT_FOUND, `symbol not found: ${symbol}`);
    return this.fileWithDependencies(file);
  }

  fileContainingExtension(containingType: string, extensionNumber: number): Uint8Array[] {
    const file = this.#extensions.get(containingType.replace(/^\./, ''))?.get(extensionNumber);
    if (file === undefined) {
      throw new ReflectionError(status.NOT_FOUND, `extension ${extensionNumber} of ${containingType} not found`);
    }
    return this.fileWithDependencies(file);
  }

  /** The extension field numbers of a message type (none for the API's messages). */
  allExtensionNumbersOfType(type: string): number[] {
    const name = type.replace(/^\./, '');
    if (!this.#messages.has(name)) throw new ReflectionError(status.NOT_FOUND, `message type not found: ${type}`);
    return [...(this.#extensions.get(name)?.keys() ?? [])].sort((a, b) => a - b);
  }

  /** The answer to one reflection request: its result, or an error response. */
  answer(request: ReflectionRequest): ReflectionAnswer {
    const { messageRequest } = request;
    try {
      switch (messageRequest.case) {
        case 'fileByFilename':
          return fileDescriptors(this.fileByFilename(messageRequest.value));
        case 'fileContainingSymbol':
          return fileDescriptors(this.fileContainingSymbol(messageRequest.value));
        case 'fileContainingExtension':
          return fileDescriptors(
            this.fileContainingExtension(messageRequest.value.containingType, messageRequest.value.extensionNumber),
          );
        case 'allExtensionNumbersOfType':
          return {
            case: 'allExtensionNumbersResponse',
            value: {
              baseTypeName: messageRequest.value,
              extensionNumber: this.allExtensionNumbersOfType(messageRequest.value),
            },
          };
        case 'listServices':
          return { case: 'listServicesResponse', value: { service: this.services.map((name) => ({ name })) } };
        case undefined:
          throw new ReflectionError(status.INVALID_ARGUMENT, 'the request names no message_request');
      }
    } catch (error: unknown) {
      // Anything else is a bug here; the stream answers it rather than the process crashing on it.
      const [errorCode, errorMessage] =
        error instanceof ReflectionError ? [error.code, error.message] : [status.INTERNAL, 'reflection failed'];
      return { case: 'errorResponse', value: { errorCode, errorMessage } };
    }
  }
}

function fileDescriptors(files: Uint8Array[]): ReflectionAnswer {
  return { case: 'fileDescriptorResponse', value: { fileDescriptorProto: files } };
}

/** Reads and indexes the generated descriptor set. */
export function loadDescriptorSet(path = descriptorSetPath): FileDescriptorSet {
  return fromBinary(FileDescriptorSetSchema, readFileSync(path));
}

/** The ServerReflection service definition of one reflection version, coded with the set's own descriptors. */
function reflectionServiceDefinition(
  requestSchema: DescMessage,
  responseSchema: DescMessage,
  version: string,
): ServiceDefinition {
  return {
    ServerReflectionInfo: {
      path: `/grpc.reflection.${version}.ServerReflection/ServerReflectionInfo`,
      requestStream: true,
      responseStream: true,
      requestSerialize: (message: Message) => Buffer.from(toBinary(requestSchema, message)),
      requestDeserialize: (bytes: Buffer) => fromBinary(requestSchema, bytes),
      responseSerialize: (message: Message) => Buffer.from(toBinary(responseSchema, message)),
      responseDeserialize: (bytes: Buffer) => fromBinary(responseSchema, bytes),
    },
  };
}

/**
 * Server reflection for everything the server runs (the segmentation service, grpc.health.v1 and
 * reflection itself), so that `grpcurl` and similar tools work without the .proto files.
 */
export function createReflectionService(set: FileDescriptorSet = loadDescriptorSet()): {
  readonly index: DescriptorIndex;
  addToServer(server: Server): void;
} {
  const index = new DescriptorIndex(set);
  const registry = createFileRegistry(set);
  const schema = (name: string): DescMessage => {
    const message = registry.getMessage(name);
    if (message === undefined) throw new Error(`${name} is not in the descriptor set (run \`npm run gen\`)`);
    return message;
  };
  return {
    index,
    addToServer(server) {
      for (const version of REFLECTION_VERSIONS) {
        const requestSchema = schema(`grpc.reflection.${version}.ServerReflectionRequest`);
        const responseSchema = schema(`grpc.reflection.${version}.ServerReflectionResponse`);
        server.addService(reflectionServiceDefinition(requestSchema, responseSchema, version), {
          ServerReflectionInfo(call: ServerDuplexStream<ReflectionRequest, Message>) {
            call.on('data', (request: ReflectionRequest) => {
              const response = create(responseSchema, {
                validHost: request.host,
                originalRequest: request,
                messageResponse: index.answer(request),
              });
              call.write(response);
            });
            call.on('end', () => call.end());
            call.on('error', () => {});
          },
        });
      }
    },
  };
}
