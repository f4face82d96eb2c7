fn main() {
    println!("histoboard: under construction");
}
