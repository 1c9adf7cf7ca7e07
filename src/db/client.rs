//! The database client every connection of odoo-init is: `tokio-postgres`
//! driven on the calling thread (PID 1's own; no thread, no runtime left
//! running), one operation at a time, each one ended when its deadline
//! passes or when the stop descriptor becomes readable, whatever the
//! server, a pooler or the network does meanwhile.
//!
//! The stop descriptor is handed down by whoever makes the target (the job:
//! a descriptor that is readable while a SIGTERM or SIGINT is pending); this
//! module only watches it, never reads it. An operation cut short drops the
//! connection: the statement ends with the client's own "connection closed",
//! so every caller treats it as the lost connection it then is, and the
//! server rolls back what was open.
//!
//! The reaper is handed down the same way: while an operation waits, a
//! child that ended is reaped at once ([`Reaper::tend`]), not when the
//! operation is over; the operation goes on.

use std::future::{poll_fn, Future};
use std::os::fd::OwnedFd;
use std::pin::{pin, Pin};
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use std::rc::Rc;

use tokio::io::unix::AsyncFd;
use tokio::io::Interest;
use tokio::runtime::Runtime;
use tokio_postgres::tls::MakeTlsConnect;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{Config, Error, Row, Socket};

use crate::meanwhile::Meanwhile;
use crate::reaper::Reaper;

/// The longest any operation on an open connection may take on our side:
/// the server's own bound (`conn::bounded`, 5 s) and a margin for the
/// answer to travel. A server, pooler or network that stays silent longer
/// costs the connection, not PID 1's attention.
const OPERATION_BOUND: Duration = Duration::from_secs(7);

/// Why an operation was cut short.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cut {
    /// The stop descriptor became readable.
    Stop,
    /// No answer before the deadline.
    Deadline,
}

/// [`Meanwhile`]'s descriptors registered with one connection's runtime.
struct Watched {
    stop: Option<AsyncFd<Arc<OwnedFd>>>,
    chld: Option<(AsyncFd<Arc<OwnedFd>>, Rc<Reaper>)>,
}

/// Why no connection was made.
pub(crate) enum ConnectFailed {
    /// The server's, the pooler's or the client's own error.
    Pg(Error),
    Cut(Cut),
    /// No runtime or descriptor registration here (descriptors exhausted).
    Local(std::io::Error),
}

/// The connection's I/O, polled only while an operation of ours runs.
type Driver = Pin<Box<dyn Future<Output = Result<(), Error>>>>;
type Params<'p> = [(&'p (dyn ToSql + Sync), Type)];

/// One open connection. Field order is drop order: the client handle
/// before its connection's I/O.
pub(crate) struct Client {
    client: tokio_postgres::Client,
    io: Io,
}

/// A connection's I/O and what drives it. Field order is drop order: the
/// connection and the descriptor's registration go before their runtime.
struct Io {
    driver: Option<Driver>,
    watched: Watched,
    /// Why the last operation was cut short, if it was.
    cut: Option<Cut>,
    rt: Runtime,
}

impl Client {
    /// Connects as `config` says, giving up at `deadline` or at a stop.
    pub(crate) fn connect<T>(
        config: &Config,
        tls: T,
        meanwhile: &Meanwhile,
        deadline: Instant,
    ) -> Result<Client, ConnectFailed>
    where
        T: MakeTlsConnect<Socket> + 'static,
        T::Stream: Send,
    {
        // Time for the deadlines, I/O for the socket and the watched descriptors.
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()
            .map_err(ConnectFailed::Local)?;
        let watched = Watched {
            stop: meanwhile
                .stop
                .as_ref()
                .map(|fd| register(&rt, fd))
                .transpose()?,
            chld: match &meanwhile.reaper {
                Some(reaper) => Some((register(&rt, reaper.descriptor())?, Rc::clone(reaper))),
                None => None,
            },
        };
        let connecting = drive(&rt, &mut None, &watched, deadline, config.connect(tls));
        match connecting {
            Ok(Ok((client, connection))) => Ok(Client {
                client,
                io: Io {
                    driver: Some(Box::pin(connection)),
                    watched,
                    cut: None,
                    rt,
                },
            }),
            Ok(Err(e)) => Err(ConnectFailed::Pg(e)),
            Err(cut) => Err(ConnectFailed::Cut(cut)),
        }
    }

    /// Ends the connection politely (`Terminate`, then the socket closed),
    /// within a second and never past a stop; dropping it without this
    /// only closes the socket.
    pub(crate) fn close(self) {
        let Client { client, mut io } = self;
        // The last handle gone, the connection sends Terminate and ends.
        drop(client);
        if let Some(connection) = io.driver.as_mut() {
            let deadline = Instant::now() + Duration::from_secs(1);
            let _ = drive(
                &io.rt,
                &mut None,
                &io.watched,
                deadline,
                connection.as_mut(),
            );
        }
    }

    /// True once the connection is gone (closed by the server, lost, or cut).
    pub(crate) fn is_closed(&self) -> bool {
        self.io.driver.is_none() || self.client.is_closed()
    }

    /// Why the last operation was cut short, if it was.
    pub(crate) fn cut(&self) -> Option<Cut> {
        self.io.cut
    }

    pub(crate) fn query_typed(&mut self, sql: &str, params: &Params) -> Result<Vec<Row>, Error> {
        let op = self.client.query_typed(sql, params);
        self.io.run(op)
    }

    pub(crate) fn query_typed_one(&mut self, sql: &str, params: &Params) -> Result<Row, Error> {
        let op = self.client.query_typed_one(sql, params);
        self.io.run(op)
    }

    pub(crate) fn query_typed_opt(
        &mut self,
        sql: &str,
        params: &Params,
    ) -> Result<Option<Row>, Error> {
        let op = self.client.query_typed_opt(sql, params);
        self.io.run(op)
    }

    /// Statements in the simple protocol (no parameters, several at once).
    pub(crate) fn batch_execute(&mut self, sql: &str) -> Result<(), Error> {
        let op = self.client.batch_execute(sql);
        self.io.run(op)
    }

    /// `BEGIN`: rolled back when dropped without [`Transaction::commit`].
    pub(crate) fn transaction(&mut self) -> Result<Transaction<'_>, Error> {
        self.batch_execute("BEGIN")?;
        Ok(Transaction {
            client: self,
            open: true,
            savepoint: None,
        })
    }
}

/// A transaction on a [`Client`], in plain `BEGIN`/`COMMIT` (safe behind
/// PgBouncer's transaction pooling).
pub(crate) struct Transaction<'a> {
    client: &'a mut Client,
    open: bool,
    /// A savepoint inside a transaction, by its name.
    savepoint: Option<&'static str>,
}

impl Transaction<'_> {
    /// A savepoint: what fails in it is rolled back alone, the transaction
    /// goes on.
    pub(crate) fn savepoint(&mut self, name: &'static str) -> Result<Transaction<'_>, Error> {
        self.client.batch_execute(&format!("SAVEPOINT {name}"))?;
        Ok(Transaction {
            client: self.client,
            open: true,
            savepoint: Some(name),
        })
    }

    pub(crate) fn query_typed(&mut self, sql: &str, params: &Params) -> Result<Vec<Row>, Error> {
        self.client.query_typed(sql, params)
    }

    pub(crate) fn query_typed_one(&mut self, sql: &str, params: &Params) -> Result<Row, Error> {
        self.client.query_typed_one(sql, params)
    }

    pub(crate) fn query_typed_opt(
        &mut self,
        sql: &str,
        params: &Params,
    ) -> Result<Option<Row>, Error> {
        self.client.query_typed_opt(sql, params)
    }

    pub(crate) fn batch_execute(&mut self, sql: &str) -> Result<(), Error> {
        self.client.batch_execute(sql)
    }

    pub(crate) fn commit(mut self) -> Result<(), Error> {
        self.open = false;
        match self.savepoint {
            Some(name) => self.client.batch_execute(&format!("RELEASE {name}")),
            None => self.client.batch_execute("COMMIT"),
        }
    }

    pub(crate) fn rollback(mut self) -> Result<(), Error> {
        self.open = false;
        self.undo()
    }

    fn undo(&mut self) -> Result<(), Error> {
        match self.savepoint {
            Some(name) => self.client.batch_execute(&format!("ROLLBACK TO {name}")),
            None => self.client.batch_execute("ROLLBACK"),
        }
    }
}

impl Drop for Transaction<'_> {
    fn drop(&mut self) {
        if self.open {
            // Bounded like any operation; on a connection already gone it
            // fails at once, and the server has rolled back by itself.
            let _ = self.undo();
        }
    }
}

impl Io {
    /// One operation on an open connection, bounded by [`OPERATION_BOUND`]
    /// and the stop descriptor. Cut short, the connection is dropped, and
    /// the operation, polled once more, ends with the client's "connection
    /// closed" (its request's answer can no longer come).
    fn run<T>(&mut self, op: impl Future<Output = Result<T, Error>>) -> Result<T, Error> {
        let mut op = pin!(op);
        let deadline = Instant::now() + OPERATION_BOUND;
        match drive(
            &self.rt,
            &mut self.driver,
            &self.watched,
            deadline,
            op.as_mut(),
        ) {
            Ok(done) => done,
            Err(why) => {
                self.cut = Some(why);
                self.driver = None;
                // Returns at once: with the connection dropped, the channel
                // the answer would come on is closed.
                self.rt.block_on(op)
            }
        }
    }
}

/// `fd` registered with `rt`'s reactor (its epoll), read by no one here.
fn register(rt: &Runtime, fd: &Arc<OwnedFd>) -> Result<AsyncFd<Arc<OwnedFd>>, ConnectFailed> {
    let _entered = rt.enter();
    // SAFETY: the descriptor is owned by what is registered (an
    // `Arc<OwnedFd>`), so it stays open until the registration ends.
    let watched = unsafe { AsyncFd::register_with_interest(Arc::clone(fd), Interest::READABLE) };
    watched.map_err(|e| ConnectFailed::Local(e.into()))
}

/// Polls `op` on this thread, with the connection's I/O beside it, until
/// it is done, `deadline` passes or the stop descriptor becomes readable;
/// reaps meanwhile whenever a child ended.
fn drive<F: Future>(
    rt: &Runtime,
    driver: &mut Option<Driver>,
    watched: &Watched,
    deadline: Instant,
    op: F,
) -> Result<F::Output, Cut> {
    rt.block_on(async {
        let mut op = pin!(op);
        let mut expired = pin!(tokio::time::sleep_until(deadline.into()));
        poll_fn(|cx| {
            if let Poll::Ready(out) = op.as_mut().poll(cx) {
                return Poll::Ready(Ok(out));
            }
            if let Some(connection) = driver.as_mut() {
                if connection.as_mut().poll(cx).is_ready() {
                    // The connection ended (closed, or broke): the operation
                    // learns it at its next poll, which this wake asks for.
                    *driver = None;
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
            }
            if let Some((chld, reaper)) = &watched.chld {
                // Edge by edge: drained by `tend`, readable again at the
                // next SIGCHLD; the readiness cleared until then.
                while let Poll::Ready(Ok(mut ready)) = chld.poll_read_ready(cx) {
                    reaper.tend();
                    ready.clear_ready();
                }
            }
            if let Some(Poll::Ready(Ok(_))) = watched.stop.as_ref().map(|s| s.poll_read_ready(cx)) {
                return Poll::Ready(Err(Cut::Stop));
            }
            if expired.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Err(Cut::Deadline));
            }
            Poll::Pending
        })
        .await
    })
}
