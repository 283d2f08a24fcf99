import { createLogger } from '../../runtime/logger.js';
import { installTemporalLogging } from '../../runtime/temporal-logging.js';

// Each test process routes the SDK's own lines through pino at warn, like the app does.
installTemporalLogging(createLogger(process.env.TEST_LOG_LEVEL ?? 'warn'));
