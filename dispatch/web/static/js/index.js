// The landing page: links to the screens, in the chosen language.

import { $, bindLangSelect, initI18n, loadConfig } from "./common.js";

await loadConfig();
await initI18n();
bindLangSelect($("#lang"));
