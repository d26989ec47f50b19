// Written by the browser-test work: see the helper brief.
