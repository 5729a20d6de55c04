// The header must compile as C++ (and survive a second include).
#include "timekeeper.h"
#include "timekeeper.h"

#include <cstdio>

int main() {
    tk_engine *engine = nullptr;
    if (tk_engine_open(":memory:", &engine) != TK_OK) return 1;
    char *out = nullptr;
    tk_status st = tk_guild_status(engine, 1, &out);
    std::printf("%s\n", out ? out : "(null)");
    tk_string_free(out);
    tk_engine_close(engine);
    std::printf("%d passed, %d failed\n", st == TK_OK ? 1 : 0, st == TK_OK ? 0 : 1);
    return st == TK_OK ? 0 : 1;
}
