import { pinAfterReset, pinnedVersionOf } from './run-version';

const A = { deploymentName: 'buildstory', buildId: 'A' };
const B = { deploymentName: 'buildstory', buildId: 'B' };
// VersioningBehavior: 1 PINNED, 2 AUTO_UPGRADE.
const PINNED = 1;
const AUTO_UPGRADE = 2;

describe('pinnedVersionOf', () => {
  test('an unversioned run (no versioningInfo, or no behavior) has none', () => {
    expect(pinnedVersionOf(undefined)).toBeNull();
    expect(pinnedVersionOf(null)).toBeNull();
    expect(pinnedVersionOf({})).toBeNull();
    // An unversioned worker that still names its build: not pinned.
    expect(pinnedVersionOf({ deploymentVersion: A })).toBeNull();
  });

  test('a run its worker pinned: that version', () => {
    expect(pinnedVersionOf({ behavior: PINNED, deploymentVersion: A })).toEqual(A);
  });

  test('an auto-upgrading run follows the current version: none', () => {
    expect(pinnedVersionOf({ behavior: AUTO_UPGRADE, deploymentVersion: A })).toBeNull();
  });

  test('a pinned override (a run retried before) wins', () => {
    expect(
      pinnedVersionOf({ behavior: PINNED, deploymentVersion: B, versioningOverride: { pinned: { behavior: 1, version: A } } }),
    ).toEqual(A);
    expect(pinnedVersionOf({ versioningOverride: { pinned: { behavior: 1, version: A } } })).toEqual(A);
  });
});

describe('pinAfterReset', () => {
  test('none for an unversioned run: the reset is as before', () => {
    expect(pinAfterReset(null)).toEqual([]);
  });

  test('a pinned override of the versioning options, and only those', () => {
    expect(pinAfterReset(A)).toEqual([
      {
        updateWorkflowOptions: {
          workflowExecutionOptions: { versioningOverride: { pinned: { behavior: 1, version: A } } },
          updateMask: { paths: ['versioning_override'] },
        },
      },
    ]);
  });
});
