// The worker's workflow bundle entry point: every workflow type the worker serves.
export { campaign } from './campaign.js';
export { connectionOwner } from './connection-owner.js';
export { housekeeping } from './housekeeping.js';
export { postPipeline } from './post-pipeline.js';
