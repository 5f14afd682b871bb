import t from 'tap';
import { formatTaskIds } from '../protocol/task-ranges.js';
t.equal(formatTaskIds([1, 3, 4]), '1,3,4');
