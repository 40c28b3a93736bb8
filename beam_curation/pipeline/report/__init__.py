"""What a finished run tells people: report.html, the data card and the thresholds job."""
