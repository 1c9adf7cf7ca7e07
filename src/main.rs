fn main() {
    std::process::exit(odoo_init::cli::run(std::env::args_os().skip(1).collect()));
}
