/* Installed-SDK check: opens a file, records 3.5 hours in the past, reads them back. */
#include <stdio.h>
#include <timeledger.h>

int main(int argc, char **argv) {
  tl_engine *engine = NULL;
  char *out = NULL;
  if (argc < 2 || tl_engine_open(argv[1], &engine) != TL_OK) return 1;
  tl_call(engine, "create_category", "{\"guild_id\": 1, \"name\": \"Development\"}", &out);
  tl_string_free(out);
  out = NULL;
  if (tl_call(engine, "add_entry",
              "{\"guild_id\": 1, \"user_id\": 42, \"category\": \"Development\","
              " \"start\": \"2026-01-05T09:00:00Z\", \"end\": \"2026-01-05T12:30:00Z\"}",
              &out) != TL_OK) return 2;
  tl_string_free(out);
  out = NULL;
  if (tl_guild_status(engine, 1, &out) != TL_OK) return 3;
  printf("c status %s\n", out);
  tl_string_free(out);
  tl_engine_close(engine);
  return 0;
}
