//! `voltvend card`: a CPU card emulated in software (the `voltvend-card` application), for trials and tests
//! without a physical card.
//!
//! `voltvend card vpcd` connects the card to vsmartcard's `vpcd` (Debian `vsmartcard-vpcd`), the PC/SC reader
//! driver for virtual cards: `pcscd` then shows it in the reader "Virtual PCD 00 00", and everything that speaks
//! PC/SC — this server's `pcsc` readers, `opensc-tool`, `pyscard` — talks to it exactly as to a card in a USB
//! reader. The vpcd socket protocol (PROTOCOLS.md §9): every message is a 2-byte big-endian length and a
//! payload; one-byte payloads are power off (00), power on (01), reset (02) and get ATR (04); longer ones are
//! command APDUs, answered with the response APDU.
//!
//! The card lives in a file, written (atomically: a temporary file renamed over it) after every command that
//! changed it, so the same card can be taken out (the process stopped) and used elsewhere — loaded into the
//! prepaid controller model, say — and put back.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Subcommand;
use voltvend_card::vpcd::{VpcdDecoder, encode};
use voltvend_card::{Algorithm, CardSerial, VirtualCard};

#[derive(Debug, Subcommand)]
pub enum CardCommand {
    /// Puts a virtual card into vpcd's reader until vpcd closes the connection (pcscd stops) or the process
    /// is stopped. Prints `card SERIAL connected to ADDRESS` once the reader has it.
    Vpcd {
        /// The card's file: loaded if it exists, else a new blank card is made (with --serial) and saved there.
        #[arg(long)]
        state: PathBuf,
        /// A new card's factory serial, 16 hex digits.
        #[arg(long)]
        serial: Option<String>,
        /// A new card's cipher: sm4 or 3des.
        #[arg(long, default_value = "sm4")]
        algorithm: String,
        /// Where vpcd listens.
        #[arg(long, default_value = "127.0.0.1:35963")]
        vpcd: String,
        /// How long to keep trying to reach vpcd (pcscd starting), in seconds.
        #[arg(long, default_value_t = 10)]
        wait_s: u64,
    },
}

pub fn run(command: CardCommand) -> anyhow::Result<()> {
    match command {
        CardCommand::Vpcd { state, serial, algorithm, vpcd, wait_s } => {
            let mut card = load_or_make(&state, serial.as_deref(), &algorithm)?;
            let mut stream = connect(&vpcd, Duration::from_secs(wait_s))?;
            println!("card {} connected to {vpcd}", card.serial());
            std::io::stdout().flush()?;
            serve(&mut stream, &mut card, &state)
        }
    }
}

fn load_or_make(path: &Path, serial: Option<&str>, algorithm: &str) -> anyhow::Result<VirtualCard> {
    if path.exists() {
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        return VirtualCard::from_bytes(&bytes).map_err(|e| anyhow::anyhow!("{} is not a card: {e}", path.display()));
    }
    let Some(serial) = serial else { bail!("{} does not exist: give --serial to make a new card", path.display()) };
    let serial: CardSerial = serial.parse().map_err(|_| anyhow::anyhow!("--serial is 16 hexadecimal digits"))?;
    let alg = match algorithm {
        "sm4" => Algorithm::Sm4,
        "3des" => Algorithm::Tdes,
        other => bail!("--algorithm is sm4 or 3des, not {other:?}"),
    };
    let card = VirtualCard::new(serial, alg, &mut rand::rng());
    save(path, &card.to_bytes())?;
    Ok(card)
}

/// Writes the card's file, readable by its owner only (a card image holds the card's keys).
fn save(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("writing {}", tmp.display()))?;
    file.write_all(bytes).with_context(|| format!("writing {}", tmp.display()))?;
    file.sync_all()?;
    std::fs::rename(&tmp, path).with_context(|| format!("replacing {}", path.display()))?;
    Ok(())
}

/// Connects to vpcd, trying again while it is not listening yet (pcscd loads the driver as it starts).
fn connect(addr: &str, wait: Duration) -> anyhow::Result<TcpStream> {
    let deadline = Instant::now() + wait;
    let mut pause = Duration::from_millis(20);
    loop {
        match TcpStream::connect(addr) {
            Ok(s) => {
                s.set_nodelay(true)?;
                return Ok(s);
            }
            Err(e) if Instant::now() >= deadline => {
                return Err(e).with_context(|| format!("reaching vpcd at {addr} (is pcscd running with vpcd?)"));
            }
            Err(_) => {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(500));
            }
        }
    }
}

fn serve(stream: &mut TcpStream, card: &mut VirtualCard, state: &Path) -> anyhow::Result<()> {
    let mut decoder = VpcdDecoder::new();
    let mut buf = [0_u8; 4096];
    let mut saved = card.to_bytes();
    loop {
        let n = stream.read(&mut buf).context("reading from vpcd")?;
        if n == 0 {
            return Ok(());
        }
        decoder.push(buf.get(..n).unwrap_or(&[]));
        for message in decoder.by_ref() {
            let message = message.map_err(|e| anyhow::anyhow!("vpcd sent a malformed message: {e}"))?;
            let answer = card.handle_vpcd(&message);
            // A change reaches the file before its answer, as a card's EEPROM is written before its status
            // word: the file is never older than what the reader was told.
            let now = card.to_bytes();
            if now != saved {
                save(state, &now)?;
                saved = now;
            }
            if let Some(answer) = answer {
                let framed = encode(&answer).map_err(|e| anyhow::anyhow!("an answer too long for vpcd: {e}"))?;
                stream.write_all(&framed).context("answering vpcd")?;
            }
        }
    }
}
