/**
 * The files a run produces (code, tests, the verification report), stored outside Temporal's
 * history and addressed by the SHA-256 of their content; histories hold only ArtifactRefs.
 * Imported by activities (to store) and by the web app's *.server.ts modules (to serve): nothing
 * here touches @temporalio/workflow. Workflow and browser code import `./ref` only (lint holds it).
 */
import type { EncryptionKeys } from '../codec';
import type { ArtifactSettings } from '../config/artifacts';
import { LocalArtifactStore } from './local';
import { S3ArtifactStore } from './s3';
import type { ArtifactStore } from './store';

export { artifactPathProblem, SHA256_HEX, type ArtifactRef } from './ref';
export { ArtifactIntegrityError, ArtifactKeyError, sha256Hex, type ArtifactStore, type StoredArtifact } from './store';
export { LocalArtifactStore } from './local';
export { S3ArtifactStore, s3ClientFor, type S3Location } from './s3';
export { verifyArtifacts, type ArtifactProblem } from './verify';
export { zipArtifacts } from './zip';

/** The store the settings name (CommonConfig.artifacts), sealing with the payload encryption keys when they are set. */
export function createArtifactStore(settings: ArtifactSettings, encryption: EncryptionKeys | null): ArtifactStore {
  if (settings.kind === 'local') return new LocalArtifactStore({ root: settings.dir, encryption });
  const { kind: _kind, ...location } = settings;
  return new S3ArtifactStore({ ...location, encryption });
}
