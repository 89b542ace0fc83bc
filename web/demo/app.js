// The demo page: each panel is its own small module; this file only starts them.
import { initChat } from './chat.js';
import { initDashboard } from './dashboard.js';
import { initFaq } from './faq.js';
import { initImage } from './image.js';
import { initSentiment } from './sentiment.js';

initChat();
initDashboard();
initSentiment();
initFaq();
initImage();
