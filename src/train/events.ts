// Progress and metric events the driver emits. The CLI renders them as a progress bar or plain
// lines; the viewer feeds them to its charts. The driver never prints.

export type TrainEvent =
  | { type: 'start'; run: string; model: string; dataset: string; adapter: string; totalIterations: number; startIteration: number; resumed: boolean }
  | { type: 'step'; run: string; iteration: number; totalIterations: number; loss: number; accuracy: number; lr: number; imagesPerSecond: number }
  | { type: 'eval'; run: string; iteration: number; testLoss: number; testAccuracy: number; seconds: number; elapsedSeconds: number }
  | { type: 'checkpoint'; run: string; iteration: number }
  | { type: 'done'; run: string; iteration: number; testAccuracy: number | null; weightsHash: string; seconds: number; skipped: boolean }
  | { type: 'log'; run: string; message: string };

export type EventSink = (e: TrainEvent) => void;
