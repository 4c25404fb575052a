// SIGKILL before each chosen file operation of a LeNet `lottery`, then resume: every file of the
// run folder must end byte-identical to an uninterrupted run's (test/fault/kill-suite.ts).
import { LOTTERY, killSuite, lotteryReference } from '../fault/kill-suite.ts';

killSuite('lottery', LOTTERY, 3, lotteryReference);
