package dev.externaldbsync.service;

import java.lang.annotation.ElementType;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;

import jakarta.ws.rs.NameBinding;

/**
 * Marks a JAX-RS resource class or method that needs {@code Authorization: Bearer <ADMIN_TOKEN>}: the admin API and
 * every status endpoint that reveals tenant data. Health and metrics stay open.
 */
@NameBinding
@Retention(RetentionPolicy.RUNTIME)
@Target({ ElementType.TYPE, ElementType.METHOD })
public @interface AdminOnly {
}
