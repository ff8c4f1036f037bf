/**
 * The reference triggers capture is measured against (bench/trigger-cost.ts for rates and µs per row,
 * bench/trigger-callgrind.ts for instruction counts), one definition so both benches compare with the
 * same triggers: `floor` writes one int per row, `jsonb_row` to_jsonb(OLD)/to_jsonb(NEW) per row,
 * `jsonb_stmt` to_jsonb of the transition rows per statement, each into its own bigserial table.
 */
export interface ReferenceTables {
  floor: string;
  jsonbRow: string;
  jsonbStmt: string;
}

/** The DDL of the three reference triggers and their log tables, on the given (plain, trusted) table names. */
export function referenceTriggersSql(tables: ReferenceTables): string {
  return `
  CREATE TABLE public.ref_floor_log (id bigserial PRIMARY KEY, v int);
  CREATE FUNCTION public.ref_floor() RETURNS trigger LANGUAGE plpgsql AS $$
  BEGIN INSERT INTO public.ref_floor_log (v) VALUES (1); RETURN NULL; END $$;
  CREATE TRIGGER ref AFTER INSERT OR UPDATE OR DELETE ON public.${tables.floor} FOR EACH ROW EXECUTE FUNCTION public.ref_floor();

  CREATE TABLE public.ref_row_log (id bigserial PRIMARY KEY, op text, old jsonb, new jsonb);
  CREATE FUNCTION public.ref_row() RETURNS trigger LANGUAGE plpgsql AS $$
  BEGIN
    INSERT INTO public.ref_row_log (op, old, new)
    VALUES (TG_OP, CASE WHEN TG_OP <> 'INSERT' THEN to_jsonb(OLD) END, CASE WHEN TG_OP <> 'DELETE' THEN to_jsonb(NEW) END);
    RETURN NULL;
  END $$;
  CREATE TRIGGER ref AFTER INSERT OR UPDATE OR DELETE ON public.${tables.jsonbRow} FOR EACH ROW EXECUTE FUNCTION public.ref_row();

  CREATE TABLE public.ref_stmt_log (id bigserial PRIMARY KEY, op text, old jsonb, new jsonb);
  CREATE FUNCTION public.ref_stmt() RETURNS trigger LANGUAGE plpgsql AS $$
  BEGIN
    IF TG_OP = 'INSERT' THEN INSERT INTO public.ref_stmt_log (op, new) SELECT 'INSERT', to_jsonb(n) FROM new_rows n;
    ELSIF TG_OP = 'UPDATE' THEN INSERT INTO public.ref_stmt_log (op, old, new) SELECT 'UPDATE', to_jsonb(o), to_jsonb(n) FROM old_rows o JOIN new_rows n ON o.id = n.id;
    ELSE INSERT INTO public.ref_stmt_log (op, old) SELECT 'DELETE', to_jsonb(o) FROM old_rows o;
    END IF;
    RETURN NULL;
  END $$;
  CREATE TRIGGER ref_i AFTER INSERT ON public.${tables.jsonbStmt} REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION public.ref_stmt();
  CREATE TRIGGER ref_u AFTER UPDATE ON public.${tables.jsonbStmt} REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION public.ref_stmt();
  CREATE TRIGGER ref_d AFTER DELETE ON public.${tables.jsonbStmt} REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION public.ref_stmt();`;
}
