fn main() {
    println!("spikelab");
}
