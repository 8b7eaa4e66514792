export { createServiceMetrics, type ServiceMetrics, type ServiceMetricsOptions } from './service-metrics.js';
export { LabelledGauge, foldTopCategories, OTHER_CATEGORY } from './labelled-gauge.js';
export { headCategories, tailShareOfCounts } from '../balance/index.js';
