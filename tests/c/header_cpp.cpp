// The header must compile as C++ (and survive a second include).
#include "timeledger.h"
#include "timeledger.h"

#include <cstdio>

int main() {
    tl_engine *engine = nullptr;
    if (tl_engine_open(":memory:", &engine) != TL_OK) return 1;
    char *out = nullptr;
    tl_status st = tl_guild_status(engine, 1, &out);
    std::printf("%s\n", out ? out : "(null)");
    tl_string_free(out);
    tl_engine_close(engine);
    std::printf("%d passed, %d failed\n", st == TL_OK ? 1 : 0, st == TL_OK ? 0 : 1);
    return st == TL_OK ? 0 : 1;
}
