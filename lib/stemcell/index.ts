/** The stemcell domain: one module for the CLI, the Lambdas and the stacks. */
export * from './aws';
export * from '../errors';
export * from './image';
export * from './light';
export * from './manifest';
export * from './matrix';
export * from './naming';
export * from './tarball';
export * from './summary';
