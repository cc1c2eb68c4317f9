/** Every workflow the workers register (the bundle entry point). */
export { migrationWorkflow } from './migration';
export { userImportWorkflow } from './user-import';
export { groupImportWorkflow } from './group-import';
export { retryFailuresWorkflow } from './retry-failures';
export { entitySyncWorkflow, syncControlWorkflow } from './sync';
export { verifyWorkflow, verifyUserWorkflow, verifyGroupWorkflow } from './verify';
