package dev.externaldbsync.service;

import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;

/** Test-only: what a loop of this process would hear of fusebox changes. */
@ApplicationScoped
public class FuseboxChanges {

    private final List<Fusebox.State> heard = new CopyOnWriteArrayList<>();

    void on(@Observes Fusebox.Changed changed) {
        heard.add(changed.state());
    }

    List<Fusebox.State> heard() {
        return List.copyOf(heard);
    }
}
