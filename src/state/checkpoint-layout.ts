/** Directory of the model inside a checkpoint (the model's own save format). */
export const MODEL_DIR = 'model';
