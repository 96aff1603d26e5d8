// The audit console (see README: what it does so far).
"use strict";
(async () => { Suite.setup(); await Suite.me(); })();
