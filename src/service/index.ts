export { startService, type ServiceHandle, type ServiceOptions, type ServiceState } from './service.js';
