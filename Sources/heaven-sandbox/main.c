/* `heaven-sandbox`: the sandbox helper of a shared server (CHeavenSystem/zygote.c) as a
   program of its own. `heaven serve` starts it when it is installed beside `heaven`
   (otherwise `heaven --sandbox-zygote`, the same code inside the whole command). Every
   confined task is a clone of the helper and then a fork of that clone: a few
   kilobytes of C copy in a fraction of the time the Swift command's hundreds of
   mappings and megabytes of relocated libraries take (docs/performance.md). */
#include "heaven_system.h"

int main(void) { return heaven_zygote_main(0); }
