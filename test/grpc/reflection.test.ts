// Server reflection serves the descriptors buf compiled from proto/ (proto/generated/descriptor-set.binpb),
// so that reflection clients (grpcurl, Postman, Python) see the .proto as it is written.
import test from 'ava';
import { status } from '@grpc/grpc-js';
import { FieldDescriptorProto_Label } from '@bufbuild/protobuf/wkt';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { startTestService } from '../helpers/service.js';
import { describeMessage, findMessage, reflectionQueries, replyFiles } from '../helpers/standard-services.js';

const API_FILE = 'fusionseg/v1/segmentation.proto';

/** The field `name` of message `message` (fully qualified) in reflected files. */
function field(files: Parameters<typeof findMessage>[0], message: string, name: string) {
  const found = findMessage(files, message).message.field.find((candidate) => candidate.name === name);
  if (found === undefined) throw new Error(`${message} has no field ${name}`);
  return found;
}

for (const version of ['v1', 'v1alpha'] as const) {
  test(`reflection ${version} lists every service the server runs`, async (t) => {
    const { address } = await startTestService(t);
    const [reply] = await reflectionQueries(address, [{ listServices: '*' }], version);
    const names = reply?.listServicesResponse?.service.map((service) => service.name) ?? [];
    t.deepEqual(
      [...names].sort(),
      [
        'fusionseg.v1.SegmentationService',
        'grpc.health.v1.Health',
        'grpc.reflection.v1.ServerReflection',
        'grpc.reflection.v1alpha.ServerReflection',
      ],
      names.join(', '),
    );
  });
}

test('file_by_filename returns the .proto by its own path; unknown names are NOT_FOUND', async (t) => {
  const { address } = await startTestService(t);
  const [byName, health, missing, proto] = await reflectionQueries(address, [
    { fileByFilename: API_FILE },
    { fileByFilename: 'grpc/health/v1/health.proto' },
    { fileByFilename: 'fusionseg_v1.proto' },
    { fileContainingSymbol: 'fusionseg.v1.NoSuchMessage' },
  ]);
  const files = replyFiles(byName);
  t.deepEqual(
    files.map((file) => file.name),
    [API_FILE],
  );
  t.is(files[0]!.package, 'fusionseg.v1');
  t.is(files[0]!.syntax, 'proto3');
  t.deepEqual(
    files[0]!.service.map((service) => service.method.map((method) => method.name)),
    [['StreamFrames', 'ProcessVideo', 'GetModelInfo']],
  );
  t.is(replyFiles(health)[0]!.package, 'grpc.health.v1');
  t.is(missing?.errorResponse?.errorCode, status.NOT_FOUND);
  t.is(proto?.errorResponse?.errorCode, status.NOT_FOUND);
});

test('file_containing_symbol describes messages with the .proto names, full type names and optional', async (t) => {
  const { address } = await startTestService(t);
  const symbols = [
    'fusionseg.v1.FrameResult',
    'fusionseg.v1.SegmentationService',
    'fusionseg.v1.SegmentationService.StreamFrames',
    'fusionseg.v1.FrameResult.panoptic_png',
    'fusionseg.v1.MapEncoding',
    'fusionseg.v1.MAP_ENCODING_RLE',
    'grpc.health.v1.Health',
  ];
  const replies = await reflectionQueries(
    address,
    symbols.map((symbol) => ({ fileContainingSymbol: symbol })),
  );
  for (const [i, symbol] of symbols.entries()) {
    t.is(replyFiles(replies[i])[0]!.name, symbol.startsWith('grpc.') ? 'grpc/health/v1/health.proto' : API_FILE);
  }
  const files = replyFiles(replies[0]);

  // snake_case field names as the .proto writes them (proto-loader's reflection camelCased them).
  t.is(field(files, 'fusionseg.v1.FrameResult', 'frame_id').number, 2);
  t.is(field(files, 'fusionseg.v1.FrameResult', 'panoptic_png').number, 15);
  t.is(field(files, 'fusionseg.v1.ModelInfo', 'input_width').number, 3);
  t.is(field(files, 'fusionseg.v1.FrameResult', 'frame_id').jsonName, 'frameId');
  // Fully qualified type names.
  t.is(field(files, 'fusionseg.v1.FrameResult', 'semantic').typeName, '.fusionseg.v1.EncodedMap');
  const segments = field(files, 'fusionseg.v1.FrameResult', 'segments');
  t.is(segments.typeName, '.fusionseg.v1.Segment');
  t.is(segments.label, FieldDescriptorProto_Label.REPEATED);
  t.is(
    files[0]!.service[0]!.method.find((method) => method.name === 'StreamFrames')?.inputType,
    '.fusionseg.v1.FrameRequest',
  );
  // proto3 optional survives: a synthetic oneof per optional field.
  const scoreThreshold = field(files, 'fusionseg.v1.FusionOptions', 'score_threshold');
  t.true(scoreThreshold.proto3Optional);
  t.is(
    findMessage(files, 'fusionseg.v1.FusionOptions').message.oneofDecl[scoreThreshold.oneofIndex]?.name,
    '_score_threshold',
  );
  t.false(field(files, 'fusionseg.v1.FusionOptions', 'disabled').proto3Optional);
  // Comments come along (source info), so grpcurl shows the documentation.
  const described = describeMessage(files, 'fusionseg.v1.FrameResult');
  t.log(described);
  t.regex(described, /^message FrameResult \{$/m);
  t.regex(described, /^ {2}uint64 frame_id = 2;$/m);
  t.regex(described, /^ {2}\.fusionseg\.v1\.EncodedMap semantic = 12;$/m);
  t.regex(described, /^ {2}repeated \.fusionseg\.v1\.Segment segments = 14;$/m);
  t.regex(described, /^ {2}bytes panoptic_png = 15;$/m);
  t.regex(describeMessage(files, 'fusionseg.v1.FusionOptions'), /^ {2}optional float score_threshold = 2;$/m);
  t.regex(described, /^ {2}\/\/ Position of the frame in this stream, from 0\.$/m);
});

test('reflection serves the generated descriptor set byte for byte', async (t) => {
  const { address } = await startTestService(t);
  const [reply, extensions, notAType] = await reflectionQueries(address, [
    { fileByFilename: API_FILE },
    { allExtensionNumbersOfType: 'fusionseg.v1.FrameResult' },
    { allExtensionNumbersOfType: 'fusionseg.v1.Nothing' },
  ]);
  const served = Buffer.from(reply!.fileDescriptorResponse!.fileDescriptorProto[0]!);
  // The served file is a field-1 record of the generated FileDescriptorSet.
  const set = readFileSync(fileURLToPath(new URL('../../proto/generated/descriptor-set.binpb', import.meta.url)));
  t.true(set.includes(served), 'the served descriptor is not the generated one');
  t.deepEqual(extensions?.allExtensionNumbersResponse?.extensionNumber ?? [], []);
  t.is(extensions?.allExtensionNumbersResponse?.baseTypeName, 'fusionseg.v1.FrameResult');
  t.is(notAType?.errorResponse?.errorCode, status.NOT_FOUND);
});
