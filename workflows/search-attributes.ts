/**
 * Search attributes that let people list migrations by phase and state in the Temporal Web UI
 * (e.g. `TimMigrationState = "paused"`). They are stored unencrypted, so they hold no personal
 * data: no user ids, group ids or message content — only phases, states and entity kinds.
 * The dev-stack and the test server register them at start; a cluster needs
 * `temporal operator search-attribute create` once (see README).
 */
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

export const MIGRATION_PHASE = defineSearchAttributeKey('TimMigrationPhase', SearchAttributeType.KEYWORD);
export const MIGRATION_STATE = defineSearchAttributeKey('TimMigrationState', SearchAttributeType.KEYWORD);
/** 'migration', 'user', 'group', 'conversation-sync', 'group-sync'. */
export const ENTITY_KIND = defineSearchAttributeKey('TimEntityKind', SearchAttributeType.KEYWORD);

export const SEARCH_ATTRIBUTES = [MIGRATION_PHASE, MIGRATION_STATE, ENTITY_KIND];
