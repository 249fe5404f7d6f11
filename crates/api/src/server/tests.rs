use super::*;

#[test]
fn reads_the_soft_open_file_limit() {
    let limits = "Limit                     Soft Limit           Hard Limit           Units     \n\
                  Max processes             95043                95043                processes \n\
                  Max open files            256                  524288               files     \n";
    assert_eq!(soft_open_files(limits), Some(256));
    assert_eq!(
        soft_open_files(
            "Max open files            unlimited            unlimited            files"
        ),
        None
    );
    assert_eq!(soft_open_files(""), None);
}

#[tokio::test]
async fn deadlines_follow_what_the_connection_is_doing() {
    let settings = ServeSettings {
        header_read_timeout: Duration::from_secs(10),
        idle_timeout: Duration::from_secs(60),
        body_read_timeout: Duration::from_secs(30),
        max_connections: 1,
    };
    let activity = Arc::new(Activity::new());
    let (_, why) = activity.deadline(settings).unwrap();
    assert_eq!(
        why, "header read timeout",
        "a new connection waits for headers"
    );
    let request = activity.begin();
    assert!(
        activity.deadline(settings).is_none(),
        "a request in flight is never cut"
    );
    activity.read();
    assert!(
        activity.deadline(settings).is_none(),
        "body bytes change nothing"
    );
    drop(request);
    let (at, why) = activity.deadline(settings).unwrap();
    assert_eq!(why, "idle timeout");
    assert!(at > Instant::now() + Duration::from_secs(59));
    activity.read();
    let (at, why) = activity.deadline(settings).unwrap();
    assert_eq!(why, "header read timeout", "the next request's first byte");
    assert!(at < Instant::now() + Duration::from_secs(11));
}
