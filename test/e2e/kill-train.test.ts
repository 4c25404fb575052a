// SIGKILL before each chosen file operation of a LeNet `train`, then resume: every file of the
// run folder must end byte-identical to an uninterrupted run's (test/fault/kill-suite.ts).
import { TRAIN, killSuite, trainReference } from '../fault/kill-suite.ts';

killSuite('train', TRAIN, 3, trainReference);
